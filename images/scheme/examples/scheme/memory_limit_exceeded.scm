(let loop ((blocks '()))
  (loop (cons (make-string (* 16 1024 1024) #\x) blocks)))
