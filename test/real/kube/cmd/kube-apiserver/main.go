// Command kube-apiserver is the real Kubernetes API server, built from the k8s.io/kubernetes module for the real
// test suite only (never shipped). It does what cmd/kube-apiserver/apiserver.go of that release does.
package main

import (
	"os"
	_ "time/tzdata" // as upstream: CronJob time zones

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // as upstream: --logging-format=json
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // as upstream: client-go metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // as upstream: the version metric
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
