(let loop ((blocks '()))
  (loop (cons (make-bytevector (* 16 1024 1024) 1) blocks)))
