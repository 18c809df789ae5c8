let xs = @[1, 2, 3]
let i = xs.len
echo xs[i]
