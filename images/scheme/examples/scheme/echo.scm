(use-modules (ice-9 rdelim))
(display (read-line))
(newline)
