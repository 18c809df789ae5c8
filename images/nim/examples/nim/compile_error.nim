echo "missing quote)
