module github.com/t2tiles/itcd

go 1.26.0

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/fsnotify/fsnotify v1.10.1
	github.com/hanwen/go-fuse/v2 v2.12.1
	github.com/ulikunitz/xz v0.5.17
	golang.org/x/sys v0.49.0
)

require golang.org/x/net v0.62.0
