// monis.app/mlog, which the driver imports for its log set-up, is not served by
// the module proxy these machines reach. This module stands in for the few
// functions the driver calls (cmd/secrets-store-csi-driver/main.go and
// pkg/secrets-store/server.go at v1.6.1), written here on top of klog; the
// driver's modules point at it with a replace directive.
module monis.app/mlog

go 1.26

require k8s.io/klog/v2 v2.140.0
