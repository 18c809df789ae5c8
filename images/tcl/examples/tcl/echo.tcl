puts [gets stdin]
