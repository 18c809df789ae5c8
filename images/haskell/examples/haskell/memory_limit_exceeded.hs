-- xs is used twice, so the whole list stays in memory while length walks it.
main :: IO ()
main = let xs = [1 ..] :: [Int] in print (length xs + sum xs)
