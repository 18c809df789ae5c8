cat(readLines(file("stdin"), n = 1), "\n", sep = "")
