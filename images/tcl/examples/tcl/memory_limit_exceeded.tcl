set blocks {}
while 1 {
    lappend blocks [string repeat x [expr {16 * 1024 * 1024}]]
}
