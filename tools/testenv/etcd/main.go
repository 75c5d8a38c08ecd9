// Command etcd runs the pinned etcd server for the local control plane.
//
// go.etcd.io/etcd/server/v3 carries replace directives, so `go install` of it
// fails; a consumer main calling etcdmain is the supported way to build it.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
