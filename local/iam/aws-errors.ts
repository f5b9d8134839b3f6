import { randomUUID } from 'node:crypto';
import type { SignatureFailure } from './sigv4-verifier';

/** An HTTP error answer in one service's own shape, so the SDK raises that service's exception. */
export interface ErrorAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export type FrontDoorService = 'dynamodb' | 'states' | 's3' | 'sns' | 'sts' | 'execute-api';

const xml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * One error in the wire shape of `service`, after each service's documented error format:
 * JSON 1.0 `__type` (DynamoDB, Step Functions), S3's `<Error>` XML, the query protocol's
 * `<ErrorResponse>` XML (SNS, STS), API Gateway's JSON with `x-amzn-ErrorType`.
 */
export function errorAnswer(service: FrontDoorService, status: number, code: string, message: string): ErrorAnswer {
  const requestId = randomUUID();
  switch (service) {
    case 'dynamodb':
    case 'states':
      return {
        status,
        headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': requestId },
        body: JSON.stringify({ __type: service === 'dynamodb' ? `com.amazonaws.dynamodb.v20120810#${code}` : code, message }),
      };
    case 's3':
      return {
        status,
        headers: { 'content-type': 'application/xml', 'x-amz-request-id': requestId },
        body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${xml(message)}</Message><RequestId>${requestId}</RequestId></Error>`,
      };
    case 'sns':
    case 'sts':
      return {
        status,
        headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId },
        body: `<ErrorResponse xmlns="https://${service}.amazonaws.com/doc/${service === 'sns' ? '2010-03-31' : '2011-06-15'}/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${xml(message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
      };
    case 'execute-api':
      return {
        status,
        headers: { 'content-type': 'application/json', 'x-amzn-errortype': code, 'x-amzn-requestid': requestId },
        body: JSON.stringify({ message }),
      };
  }
}

/** AccessDenied as each service names it (SNS says AuthorizationError; a KMS refusal behind SNS is KMSAccessDenied). */
export function accessDenied(service: FrontDoorService, message: string, kms = false): ErrorAnswer {
  switch (service) {
    case 'dynamodb':
    case 'states':
      return errorAnswer(service, 400, kms ? 'KMSAccessDeniedException' : 'AccessDeniedException', message);
    case 's3':
      return errorAnswer(service, 403, 'AccessDenied', message);
    case 'sns':
      return errorAnswer(service, kms ? 400 : 403, kms ? 'KMSAccessDenied' : 'AuthorizationError', message);
    case 'sts':
      return errorAnswer(service, 403, 'AccessDenied', message);
    case 'execute-api':
      return errorAnswer(service, 403, 'AccessDeniedException', message);
  }
}

/** A refused signature in the service's words. */
export function signatureRefused(service: FrontDoorService, failure: SignatureFailure, message: string): ErrorAnswer {
  if (service === 's3') {
    const code = {
      MissingAuthenticationToken: 'AccessDenied',
      IncompleteSignature: 'AuthorizationHeaderMalformed',
      InvalidClientTokenId: 'InvalidAccessKeyId',
      SignatureDoesNotMatch: 'SignatureDoesNotMatch',
      RequestTimeTooSkewed: 'RequestTimeTooSkewed',
      UnsupportedPayload: 'NotImplemented',
      RequestExpired: 'AccessDenied',
      AuthorizationQueryParametersError: 'AuthorizationQueryParametersError',
    }[failure];
    const status = failure === 'UnsupportedPayload' ? 501 : failure === 'AuthorizationQueryParametersError' ? 400 : 403;
    return errorAnswer(service, status, code, message);
  }
  if (service === 'execute-api') {
    const code = {
      MissingAuthenticationToken: 'MissingAuthenticationTokenException',
      IncompleteSignature: 'IncompleteSignatureException',
      InvalidClientTokenId: 'UnrecognizedClientException',
      SignatureDoesNotMatch: 'InvalidSignatureException',
      RequestTimeTooSkewed: 'InvalidSignatureException',
      UnsupportedPayload: 'BadRequestException',
      RequestExpired: 'InvalidSignatureException',
      AuthorizationQueryParametersError: 'IncompleteSignatureException',
    }[failure];
    return errorAnswer(service, 403, code, failure === 'MissingAuthenticationToken' ? 'Missing Authentication Token' : message);
  }
  const code = {
    MissingAuthenticationToken: 'MissingAuthenticationTokenException',
    IncompleteSignature: 'IncompleteSignatureException',
    InvalidClientTokenId: service === 'sts' || service === 'sns' ? 'InvalidClientTokenId' : 'UnrecognizedClientException',
    SignatureDoesNotMatch: service === 'sts' || service === 'sns' ? 'SignatureDoesNotMatch' : 'InvalidSignatureException',
    RequestTimeTooSkewed: service === 'sts' || service === 'sns' ? 'SignatureDoesNotMatch' : 'InvalidSignatureException',
    UnsupportedPayload: 'ValidationException',
    RequestExpired: service === 'sts' || service === 'sns' ? 'SignatureDoesNotMatch' : 'InvalidSignatureException',
    AuthorizationQueryParametersError: service === 'sts' || service === 'sns' ? 'IncompleteSignature' : 'IncompleteSignatureException',
  }[failure];
  return errorAnswer(service, 400, code, message);
}
