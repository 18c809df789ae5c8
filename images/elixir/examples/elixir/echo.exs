IO.write(IO.gets(""))
