#lang racket
(displayln (read-line))
