const input: string = require("fs").readFileSync(0, "utf8");
console.log(input.split("\n")[0]);
