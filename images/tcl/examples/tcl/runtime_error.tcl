puts "dividing"
puts [expr {1 / 0}]
