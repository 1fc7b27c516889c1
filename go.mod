module github.com/recd-dev/recd

go 1.26.8
