-- Ceph RGW "prerequest" script, installed by scripts/ceph-rgw.sh on every start: refuses what AWS S3
-- refuses for the stack's bucket and RGW would otherwise store.
--
--   * ObjectOwnership BucketOwnerEnforced (the template's backup bucket): ACLs are disabled. A request
--     that sets an ACL other than bucket-owner-full-control (x-amz-acl, any x-amz-grant-* header, a
--     PutObjectAcl/PutBucketAcl body) fails with 400 AccessControlListNotSupported, as on AWS
--     (https://docs.aws.amazon.com/AmazonS3/latest/userguide/about-object-ownership.html). RGW keeps
--     such ACLs, and only the public access block's IgnorePublicAcls keeps the object private.
--   * x-amz-tagging on PutObject, CreateMultipartUpload and CopyObject needs s3:PutObjectTagging as
--     well on AWS (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html), and the
--     x-amz-object-lock-* headers s3:PutObjectRetention / s3:PutObjectLegalHold; RGW checks
--     s3:PutObject only. No role local mode copies into RGW has any of them (local/cloud/rgw-iam.ts
--     refuses to sync one that has), so an STS session's upload carrying them is refused with 403
--     AccessDenied. Requests without
--     a session token are local mode's AWS endpoint forwarding a function's call as the bucket owner:
--     that endpoint has already evaluated s3:PutObjectTagging against the function's own role.
--   * Browser-form POST uploads: their acl, x-amz-grant-* and tagging fields are in the body, which is
--     read after this script runs, so they could not be checked. Nothing in the stack uses them:
--     refused (403 AccessDenied), never stored unchecked.
--
--   * Every way a request carries these settings or a session counts: headers, and query parameters
--     (a presigned URL carries the session token as X-Amz-Security-Token, and SDKs hoist x-amz-*
--     headers into the URL unless told not to). RGW keeps a query parameter whose name contains
--     "X-Amz-" in lower case (RGWHTTPArgs::parse), so looking up "X-Amz-Security-Token" found nothing
--     and a presigned session could tag. The script reads the raw query string itself, every name
--     URL-decoded and in lower case, whatever spelling RGW accepts.
--     An STS session cannot authenticate without its token, in a header or in the query string.
--   * The script fails closed: a Lua error refuses the request (500 InternalError). RGW itself goes on
--     with a request whose script failed (seen on Ceph 20: an error in this script let a session's
--     tagged upload through).

local function refuse(status, code, message)
  Request.Response.HTTPStatusCode = status
  Request.Response.HTTPStatus = code
  Request.Response.Message = message
  return RGW_ABORT_REQUEST
end

-- Everything the script checks. A Lua error inside it (say, a field RGW presents differently in
-- another Ceph release) must refuse the request: RGW itself carries on with a request whose script
-- failed, which would let every upload through unchecked.
local function check()
  -- Request.HTTP.Metadata is RGW's map of every x-amz-* request header, names in lower case.
  local headers = Request.HTTP.Metadata
  local op = Request.RGWOp

  -- The query string's parameters, read from the raw query string (names URL-decoded, then in lower case).
  local function url_decode(text)
    return (string.gsub(string.gsub(text, "%+", " "), "%%(%x%x)", function(hex)
      return string.char(tonumber(hex, 16))
    end))
  end
  local params = {}
  for pair in string.gmatch(Request.HTTP.QueryString or "", "[^&]+") do
    local name, value = string.match(pair, "^([^=]*)=?(.*)$")
    params[string.lower(url_decode(name))] = url_decode(value)
  end

  -- A header's value, or the same setting given as a query parameter.
  local function given(name)
    local value = headers[name]
    if value == nil then
      value = params[name]
    end
    return value
  end

  local NO_ACLS = "The bucket does not allow ACLs"

  if op == "post_obj" then
    return refuse(403, "AccessDenied", "Browser-form POST uploads are not accepted here: their acl and tagging fields cannot be checked (use PUT)")
  end

  local acl = given("x-amz-acl")
  if acl ~= nil and acl ~= "bucket-owner-full-control" then
    return refuse(400, "AccessControlListNotSupported", NO_ACLS)
  end
  for _, grant in ipairs({ "x-amz-grant-read", "x-amz-grant-write", "x-amz-grant-read-acp", "x-amz-grant-write-acp", "x-amz-grant-full-control" }) do
    if given(grant) ~= nil then
      return refuse(400, "AccessControlListNotSupported", NO_ACLS)
    end
  end
  -- PutObjectAcl / PutBucketAcl with the ACL in an XML body (only the canned bucket-owner-full-control is accepted).
  if op == "put_acls" and acl == nil then
    return refuse(400, "AccessControlListNotSupported", NO_ACLS)
  end

  local session = given("x-amz-security-token") ~= nil
  if session then
    -- What an upload's headers set beyond s3:PutObject, and the action AWS requires for it.
    for header, action in pairs({
      ["x-amz-tagging"] = "s3:PutObjectTagging",
      ["x-amz-object-lock-mode"] = "s3:PutObjectRetention",
      ["x-amz-object-lock-retain-until-date"] = "s3:PutObjectRetention",
      ["x-amz-object-lock-legal-hold"] = "s3:PutObjectLegalHold",
    }) do
      if given(header) ~= nil then
        return refuse(403, "AccessDenied", "Access Denied: " .. header .. " needs " .. action .. ", which this session does not have")
      end
    end
  end

  return 0
end

local ok, result = pcall(check)
if not ok then
  return refuse(500, "InternalError", "The request could not be checked (scripts/rgw-prerequest.lua failed: " .. tostring(result) .. ")")
end
return result
