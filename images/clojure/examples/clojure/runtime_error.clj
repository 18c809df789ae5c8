(throw (ex-info "boom" {}))
