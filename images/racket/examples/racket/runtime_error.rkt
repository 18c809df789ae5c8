#lang racket
(displayln (vector-ref (vector 1 2 3) 3))
