/** Branded personal data and the `Unbranded` guard that keeps it out of exports. */
export {
  type Brand,
  type DeviceId,
  deviceId,
  isDeviceId,
  isMessageContent,
  isPhoneNumber,
  isPseudonym,
  type MessageContent,
  messageContent,
  type PhoneNumber,
  type Pseudonym,
  phoneNumber,
  pseudonym,
  type Unbranded,
} from './branded.js';
