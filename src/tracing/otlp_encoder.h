// OTLP/HTTP's protobuf payload written by hand (no protobuf library here): an
// opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest holding one ResourceSpans
// (service.name and other resource attributes), one ScopeSpans (scope "kiln") and the spans.
// Field numbers follow opentelemetry-proto's trace.proto, common.proto and resource.proto; the
// e2e test decodes kiln's output with those official files.
#pragma once

#include <string>
#include <vector>

#include "tracing/span.h"

namespace kiln::tracing {

struct Resource {
  std::vector<Attribute> attributes;  // service.name first
};

std::string encode_export_request(const Resource& resource, const std::string& scope_version,
                                  const std::vector<SpanData>& spans);

}  // namespace kiln::tracing
