package discovery

import "net/url"

func unescapeQuery(s string) (string, error) { return url.QueryUnescape(s) }
