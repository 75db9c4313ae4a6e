export { base64urlEncode, base64urlDecode } from "./base64url";
export { useRandom, generateDeviceKeyPair, randomBytes, type DeviceKeyPair } from "./device-key";
export { sha512, provisioningClientId, commitment, verificationCode } from "./verification";
export { openRegistrationReply, openRegistrationToken, type SealedRegistration } from "./sealed-token";
