// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

import {Fdl} from "./Fdl.sol";

/// @title Token: an ERC-20 style token on FDL
/// @notice "FDL Token" (FDLT), no decimals. The institution of the deployer (on FDL, the
/// administrator who proposed the deploy) owns it: only its administrators mint.
/// Deployed with no constructor arguments.
contract Token {
    /// @notice The token's name.
    string public name = "FDL Token";
    /// @notice The token's symbol.
    string public symbol = "FDLT";
    /// @notice Amounts are whole units.
    uint8 public constant decimals = 0;
    /// @notice The amount minted so far.
    uint256 public totalSupply;
    /// @notice The institution whose administrators may mint: the deployer's, as the identity precompile
    /// answered at deploy ("" when the deployer was not a member, and then nobody can mint).
    string public institution;
    /// @notice The balance of each holder.
    mapping(address => uint256) public balanceOf;
    /// @notice What a spender may still move from an owner's balance: `allowance[owner][spender]`.
    mapping(address => mapping(address => uint256)) public allowance;

    /// @notice `value` moved from `from` to `to` (`from` is the zero address for a mint).
    event Transfer(address indexed from, address indexed to, uint256 value);
    /// @notice `owner` allowed `spender` to move `value` of its balance.
    event Approval(address indexed owner, address indexed spender, uint256 value);

    /// @notice Records the deployer's institution as the token's owner.
    constructor() {
        institution = Fdl.orgOf(msg.sender);
    }

    /// @notice Creates `amount` on `to`'s balance. Only an administrator of `institution`.
    /// @dev Reverts "mint: only an administrator of <institution>", "mint: to the zero address",
    /// or with a panic if the total supply would overflow.
    /// @param to The receiver.
    /// @param amount The amount created.
    function mint(address to, uint256 amount) external {
        if (!Fdl.isAdminOf(msg.sender, institution)) {
            revert(string.concat("mint: only an administrator of ", institution));
        }
        require(to != address(0), "mint: to the zero address");
        totalSupply += amount;
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
    }

    /// @notice Moves `amount` from the caller's balance to `to`.
    /// @dev Reverts "transfer: insufficient balance" or "transfer: to the zero address".
    /// @param to The receiver.
    /// @param amount The amount moved.
    /// @return True (it reverts otherwise).
    function transfer(address to, uint256 amount) external returns (bool) {
        _move(msg.sender, to, amount);
        return true;
    }

    /// @notice Allows `spender` to move up to `amount` of the caller's balance (replacing any
    /// earlier allowance).
    /// @param spender Who may move it.
    /// @param amount The allowance; `type(uint256).max` is never used up.
    /// @return True.
    function approve(address spender, uint256 amount) external returns (bool) {
        allowance[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
        return true;
    }

    /// @notice Moves `amount` from `from` to `to` within the allowance `from` gave the caller.
    /// @dev Reverts "transferFrom: insufficient allowance", "transfer: insufficient balance" or
    /// "transfer: to the zero address".
    /// @param from The owner of the balance.
    /// @param to The receiver.
    /// @param amount The amount moved.
    /// @return True (it reverts otherwise).
    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            require(allowed >= amount, "transferFrom: insufficient allowance");
            allowance[from][msg.sender] = allowed - amount;
        }
        _move(from, to, amount);
        return true;
    }

    /// @notice Moves `amount` from `from` to `to` and emits `Transfer`.
    /// @param from The payer.
    /// @param to The receiver.
    /// @param amount The amount moved.
    function _move(address from, address to, uint256 amount) private {
        require(to != address(0), "transfer: to the zero address");
        uint256 balance = balanceOf[from];
        require(balance >= amount, "transfer: insufficient balance");
        unchecked {
            // No underflow (checked above); no overflow: the sum of balances is totalSupply.
            balanceOf[from] = balance - amount;
        }
        balanceOf[to] += amount;
        emit Transfer(from, to, amount);
    }
}
