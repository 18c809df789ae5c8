line = fgetl(stdin);
disp(line)
