echo stdin.readLine()
