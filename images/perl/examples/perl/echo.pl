my $line = <STDIN>;
print $line;
