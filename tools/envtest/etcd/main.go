// Command etcd is the etcd server, built from go.etcd.io/etcd/server/v3.
// The upstream main package lives in the go.etcd.io/etcd/v3 root module,
// which is not published for every v3.6 patch; etcdmain.Main is the same
// entry point that main calls.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
