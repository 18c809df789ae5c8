println System.in.newReader().readLine()
