module github.com/recd-dev/recd

go 1.26.8

require (
	github.com/coreos/go-systemd/v22 v22.7.0
	github.com/creack/pty v1.1.24
	github.com/godbus/dbus/v5 v5.1.0
	github.com/msteinert/pam/v2 v2.1.0
	gopkg.in/ini.v1 v1.67.3
)

require golang.org/x/sys v0.6.0 // indirect
