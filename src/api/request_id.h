// Request ids as vLLM makes them: "chatcmpl-" / "cmpl-" + a random UUID4.
#pragma once

#include <string>

namespace kiln::api {

std::string random_uuid4();  // "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx", lower-case hex

}  // namespace kiln::api
