print(io.read("l"))
