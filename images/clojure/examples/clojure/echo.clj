(println (read-line))
