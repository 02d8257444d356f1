// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import {Fdl} from "./Fdl.sol";

/// @title InvoiceRegistry: e-invoice reimbursement without double claims
/// @notice Institutions register e-invoices by id; an invoice is reimbursed at most once, whichever
/// institution pays it, and the registry records who reimbursed it, when and for which institution.
contract InvoiceRegistry {
    /// @notice One registered invoice.
    struct Invoice {
        bool registered;
        bool reimbursed;
        address issuer;
        uint256 amount;
        address registeredBy;
        address payee;
        address reimbursedBy;
        uint256 reimbursedAt;
        string reimbursingOrg;
    }

    /// @notice The invoices by id (e.g. the SM3 digest of the invoice's code and number).
    mapping(bytes32 => Invoice) private invoices;

    /// @notice `invoiceId`, issued by `issuer` for `amount`, was registered by `registeredBy`.
    event Registered(bytes32 indexed invoiceId, address indexed issuer, uint256 amount, address registeredBy);
    /// @notice `invoiceId` was reimbursed to `payee` by `reimbursedBy` of the institution `org`.
    event Reimbursed(
        bytes32 indexed invoiceId, address indexed payee, uint256 amount, address reimbursedBy, string org
    );

    /// @notice Registers an invoice. Only a member whose role is "admin" or "client" (of any institution).
    /// @dev Reverts "register: only an admin or client of an institution" or "invoice already registered".
    /// @param invoiceId The invoice's id.
    /// @param issuer Who issued the invoice.
    /// @param amount The invoice's amount.
    function register(bytes32 invoiceId, address issuer, uint256 amount) external {
        (string memory org, string memory role) = Fdl.identityOf(msg.sender);
        require(
            bytes(org).length != 0 && (Fdl.equal(role, Fdl.ROLE_ADMIN) || Fdl.equal(role, Fdl.ROLE_CLIENT)),
            "register: only an admin or client of an institution"
        );
        Invoice storage inv = invoices[invoiceId];
        require(!inv.registered, "invoice already registered");
        inv.registered = true;
        inv.issuer = issuer;
        inv.amount = amount;
        inv.registeredBy = msg.sender;
        emit Registered(invoiceId, issuer, amount, msg.sender);
    }

    /// @notice Reimburses a registered invoice to `payee`, once. The caller must be a member of an
    /// institution, which is recorded as the reimbursing institution, with the caller and the block's time.
    /// @dev Reverts "invoice not registered", "invoice already reimbursed",
    /// "reimburse: only a member of an institution" or "reimburse: payee is the zero address".
    /// @param invoiceId The invoice's id.
    /// @param payee Who is paid.
    function reimburse(bytes32 invoiceId, address payee) external {
        Invoice storage inv = invoices[invoiceId];
        require(inv.registered, "invoice not registered");
        require(!inv.reimbursed, "invoice already reimbursed");
        require(payee != address(0), "reimburse: payee is the zero address");
        string memory org = Fdl.orgOf(msg.sender);
        require(bytes(org).length != 0, "reimburse: only a member of an institution");
        inv.reimbursed = true;
        inv.payee = payee;
        inv.reimbursedBy = msg.sender;
        inv.reimbursedAt = block.timestamp;
        inv.reimbursingOrg = org;
        emit Reimbursed(invoiceId, payee, inv.amount, msg.sender, org);
    }

    /// @notice The state of an invoice (all zero for an unknown id).
    /// @param invoiceId The invoice's id.
    /// @return registered Whether it is registered.
    /// @return reimbursed Whether it was reimbursed.
    /// @return amount Its amount.
    /// @return payee Who was paid (the zero address until reimbursed).
    function status(bytes32 invoiceId)
        external
        view
        returns (bool registered, bool reimbursed, uint256 amount, address payee)
    {
        Invoice storage inv = invoices[invoiceId];
        return (inv.registered, inv.reimbursed, inv.amount, inv.payee);
    }

    /// @notice Who issued and who registered an invoice.
    /// @param invoiceId The invoice's id.
    /// @return issuer The issuer given at registration.
    /// @return registeredBy The member that registered it.
    function registration(bytes32 invoiceId) external view returns (address issuer, address registeredBy) {
        Invoice storage inv = invoices[invoiceId];
        return (inv.issuer, inv.registeredBy);
    }

    /// @notice Who reimbursed an invoice, when, and for which institution (zero values until reimbursed).
    /// @param invoiceId The invoice's id.
    /// @return reimbursedBy The member that reimbursed it.
    /// @return reimbursedAt The block's timestamp then.
    /// @return org The reimbursing member's institution.
    function reimbursement(bytes32 invoiceId)
        external
        view
        returns (address reimbursedBy, uint256 reimbursedAt, string memory org)
    {
        Invoice storage inv = invoices[invoiceId];
        return (inv.reimbursedBy, inv.reimbursedAt, inv.reimbursingOrg);
    }
}
