#lang racket
(let loop ([blocks '()])
  (loop (cons (make-bytes (* 16 1024 1024) 1) blocks)))
