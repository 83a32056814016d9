// The two error bodies the endpoint answers with (research/ims-api.md §13): IMS's own
// `{"error":{"code","message"}}` and the API gateway's `{"error_code","error_msg","request_id"}`.

/** The documented message of each IMG code the emulator uses. */
const MESSAGES = {
  'IMG.0001': 'The request message format is invalid.',
  'IMG.0002': 'The image name contains more than 128 characters.',
  'IMG.0003': 'The image name format is invalid.',
  'IMG.0004': 'The description contains more than 1024 characters.',
  'IMG.0007': 'The request body is empty.',
  'IMG.0013': 'The image name is not specified.',
  'IMG.0015': 'The number of private images has reached the maximum allowed.',
  'IMG.0017': 'The URL format is incorrect.',
  'IMG.0024': 'The image type in the request is incorrect.',
  'IMG.0026':
    'The role is invalid. You need to apply for the required permissions or pass the real-name authentication.',
  'IMG.0027': 'The image ID in the request does not exist.',
  'IMG.0035': 'An attribute conflict occurred during the modification.',
  'IMG.0046': 'The image is unavailable.',
  'IMG.0054': 'The image description format is invalid.',
  'IMG.0055': 'The memory or disk size is invalid.',
  'IMG.0056': 'Invalid OS version.',
  'IMG.0057':
    'The image file is empty, not found, or in incorrect format, or you do not have enough permission to access the file.',
  'IMG.0058': 'The region of the bucket where the image file is stored is inconsistent with that of the user.',
  'IMG.0059': 'The size of the image file exceeds the maximum allowed.',
  'IMG.0061': 'Unknown system error.',
  'IMG.0068': 'The specified bucket name is empty.',
  'IMG.0072': 'The specified image format is not supported.',
  'IMG.0090': 'The image being created cannot be deleted.',
  'IMG.0109': 'The bucket name contains invalid characters.',
  'IMG.0115': 'The image tag is invalid.',
  'IMG.0116': 'The number of image tags exceeds the quota.',
  'IMG.0122': 'The OS type is invalid.',
  'IMG.0141': 'The value of hw_firmware_type is not uefi or bios.',
  'IMG.0155': 'The enterprise project ID is invalid.',
  'IMG.0175': 'The folder name and image file name cannot contain spaces.',
  'IMG.0194': 'The maximum number of images that can be imported at one time has been reached.',
  'IMG.0212': 'The value of Architecture must be x86 or Arm.',
} as const;

export type ImgCode = keyof typeof MESSAGES;

/**
 * An IMS refusal, thrown by validation and by the model and answered by the server. The message
 * is the documented one, followed by the specific problem when there is one: real IMS gives only
 * the fixed text; the detail is for people trying manifests against the emulator.
 */
export class ImsFailure extends Error {
  override readonly name = 'ImsFailure';
  constructor(
    readonly code: ImgCode,
    detail?: string,
    readonly status = 400,
    /** The documented message, unless a code is reused for a case the docs do not cover. */
    base: string = MESSAGES[code],
  ) {
    super(withDetail(base, detail));
  }

  get body(): { error: { code: string; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

/** The documented message of `code`, with the detail after a colon when there is one. */
export function imsMessage(code: ImgCode, detail?: string): string {
  return withDetail(MESSAGES[code], detail);
}

function withDetail(message: string, detail: string | undefined): string {
  return detail === undefined ? message : `${message.replace(/\.$/, '')}: ${detail}`;
}

export type GatewayCode = 'APIGW.0101' | 'APIGW.0201' | 'APIGW.0301' | 'APIGW.0308';

export function gatewayBody(
  code: GatewayCode,
  message: string,
  requestId: string,
): { error_code: string; error_msg: string; request_id: string } {
  return { error_code: code, error_msg: message, request_id: requestId };
}
