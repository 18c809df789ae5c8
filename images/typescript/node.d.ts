// The node globals a program uses most, for tsc without @types/node (Debian does not package it).
declare var process: any;
declare var require: any;
declare var module: any;
declare var __dirname: string;
declare var __filename: string;
declare var Buffer: any;
