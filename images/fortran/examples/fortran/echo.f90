program echo
  character(len=256) :: line
  read (*, '(a)') line
  print '(a)', trim(line)
end program echo
