// Builds node's start-up snapshot with tsc already loaded (see Dockerfile): tsc.js's source up
// to the lines that run it, evaluated here, and run from the snapshot's main function with the
// command line of each compile.
const fs = require("fs");
const path = require("path");
const v8 = require("v8");

const file = process.env.TSC_JS;
let src = fs.readFileSync(file, "utf8");
const tail = src.indexOf("// This file actually uses arguments passed on commandline");
if (tail < 0) throw new Error(file + ": the lines that run tsc are not where they were in 4.8");
src = src.slice(0, tail) + "\nreturn ts;";
const ts = new Function("require", "__filename", "__dirname", src)(require, file, path.dirname(file));

v8.startupSnapshot.setDeserializeMainFunction(() => {
  // node --snapshot-blob FILE -- ARGS: ARGS follow node's own path in process.argv.
  ts.sys.args = process.argv.slice(1);
  if (ts.sys.setBlocking) ts.sys.setBlocking();
  ts.executeCommandLine(ts.sys, ts.noop, ts.sys.args);
});
