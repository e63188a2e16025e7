// Command etcd is the real etcd server, at the version k8s.io/kubernetes pins, built for the real test suite only
// (never shipped). It does what etcd's own main does.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
