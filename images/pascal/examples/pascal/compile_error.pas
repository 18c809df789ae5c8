program Broken;
begin
  writeln(undeclared);
end.
