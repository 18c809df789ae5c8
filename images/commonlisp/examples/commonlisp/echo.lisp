(write-line (read-line))
