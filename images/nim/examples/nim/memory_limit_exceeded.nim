var blocks: seq[string]
while true:
  blocks.add(newString(16 shl 20))
