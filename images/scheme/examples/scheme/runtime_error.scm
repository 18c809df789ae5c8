(display (car (list)))
