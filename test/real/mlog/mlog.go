// Package mlog is a stand-in, written for this project's test tools, for the
// functions of monis.app/mlog that the Secrets Store CSI driver calls: the
// driver only sets up klog through it and reports fatal errors.
package mlog

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"

	"k8s.io/klog/v2"
)

// Format names a log output format, as the driver's --log-format-json flag picks one.
type Format string

const (
	FormatText Format = "text"
	FormatJSON Format = "json"
)

// Setup returns the function the driver defers to flush logs on exit.
func Setup() func() {
	return klog.Flush
}

// ValidateAndSetKlogLevelAndFormatGlobally checks the level and applies it to
// klog. Only text output is produced; JSON is accepted and written as text,
// which is all the test suite needs from the driver's logs.
func ValidateAndSetKlogLevelAndFormatGlobally(_ context.Context, level klog.Level, format Format) error {
	if level < 0 {
		return errors.New("mlog: the klog level must not be negative")
	}
	if format != FormatText && format != FormatJSON {
		return fmt.Errorf("mlog: unknown format %q", format)
	}
	if v := flag.Lookup("v"); v != nil {
		return v.Value.Set(strconv.Itoa(int(level)))
	}
	return nil
}

// Error logs err with a message and key/value pairs.
func Error(msg string, err error, keysAndValues ...any) {
	klog.ErrorS(err, msg, keysAndValues...)
}

// Fatal logs err and exits with status 1.
func Fatal(err error, keysAndValues ...any) {
	klog.ErrorS(err, "fatal error", keysAndValues...)
	klog.Flush()
	os.Exit(1)
}
