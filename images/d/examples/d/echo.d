import std.stdio;

void main() { write(readln()); }
