package daemon

import "errors"

// ErrServiceTaken means two services asked for one service number.
var ErrServiceTaken = errors.New("service number already owned")
