#include <bits/stdc++.h>
int main() { std::cout << "Hello, World!" << std::endl; }
