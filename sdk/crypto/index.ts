export { base64urlEncode, base64urlDecode } from "./base64url";
export { generateDeviceKeyPair, type DeviceKeyPair } from "./device-key";
export { sha512, x25519, x25519Base, openBox } from "./nacl/index";
export { provisioningClientId, commitment, verificationCode } from "./verification";
export { openRegistrationToken, type SealedRegistration } from "./sealed-token";
